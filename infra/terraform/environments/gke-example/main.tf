# Arena on Google Cloud: GKE (API and engine workers under GKE Sandbox, i.e. gVisor), Cloud SQL for PostgreSQL,
# Memorystore for Redis, bot hosts as an autoscaled managed instance group running runsc, an HTTPS load
# balancer, Secret Manager and Cloud Monitoring. docs/deploy.md walks through `terraform apply` and the
# Kubernetes manifests (infra/kubernetes) that follow it.

locals {
  master_cidr = "172.16.0.0/28"
}

module "network" {
  source      = "../../modules/network"
  name        = var.name
  project_id  = var.project_id
  region      = var.region
  master_cidr = local.master_cidr
}

module "database" {
  source                      = "../../modules/database"
  name                        = var.name
  project_id                  = var.project_id
  region                      = var.region
  network_id                  = module.network.network_id
  allocated_ip_range          = module.network.database_range_name
  private_services_connection = module.network.private_services_connection
  tier                        = var.database_tier
  deletion_protection         = var.deletion_protection
}

module "cache" {
  source                      = "../../modules/cache"
  name                        = var.name
  project_id                  = var.project_id
  region                      = var.region
  network_id                  = module.network.network_id
  reserved_ip_range           = module.network.cache_range_name
  private_services_connection = module.network.private_services_connection
  memory_size_gb              = var.redis_memory_gb
}

module "compute" {
  source                      = "../../modules/compute"
  name                        = var.name
  project_id                  = var.project_id
  region                      = var.region
  network_id                  = module.network.network_id
  network_name                = module.network.network_name
  subnet_id                   = module.network.subnet_id
  pods_range_name             = module.network.pods_range_name
  services_range_name         = module.network.services_range_name
  files_range_name            = module.network.files_range_name
  master_cidr                 = local.master_cidr
  admin_cidrs                 = var.admin_cidrs
  bot_host_tag                = module.network.bot_host_tag
  bot_host_machine_type       = var.bot_host_machine_type
  bot_slots                   = var.bot_slots
  bot_hosts_max               = var.bot_hosts_max
  service_image               = var.service_image
  runner_image                = var.runner_image
  redis_host                  = module.cache.host
  redis_auth_secret_id        = module.cache.auth_secret_id
  database_password_secret_id = module.database.password_secret_id
  deletion_protection         = var.deletion_protection
}

module "monitoring" {
  source           = "../../modules/monitoring"
  name             = var.name
  project_id       = var.project_id
  alert_rules_file = "${path.root}/../../../prometheus/alerts.yml"
  alert_email      = var.alert_email
  domain           = var.domain
}
