output "api_url" {
  description = "The API and web site, over HTTPS once the certificate is issued."
  value       = "https://${var.domain}"
}

output "api_docs_url" {
  description = "The API's OpenAPI documentation (unless ARENA_API_DOCS=false)."
  value       = "https://${var.domain}/docs"
}

output "api_address" {
  description = "Point the domain's A record here."
  value       = module.compute.api_address
}

output "registry" {
  description = "Push the service and runner images here."
  value       = module.compute.registry
}

output "cluster_name" {
  description = "gcloud container clusters get-credentials <this> --region <region>"
  value       = module.compute.cluster_name
}

output "kubernetes_values" {
  description = "The placeholders of infra/kubernetes/*.yaml, by name (docs/deploy.md: export them, then envsubst)."
  value = {
    PROJECT_ID               = var.project_id
    NAME                     = var.name
    DOMAIN                   = var.domain
    ARENA_IMAGE              = var.service_image
    APP_SERVICE_ACCOUNT      = module.compute.app_service_account
    BOT_HOST_SERVICE_ACCOUNT = module.compute.bot_host_service_account
    ADDRESS_NAME             = module.compute.api_address_name
    API_ADDRESS              = module.compute.api_address
    DATABASE_HOST            = module.database.private_ip
    DATABASE_SECRET          = module.database.password_secret_id
    DATABASE_CIDR            = module.network.database_cidr
    REDIS_HOST               = module.cache.host
    REDIS_SECRET             = module.cache.auth_secret_id
    REDIS_CIDR               = module.network.cache_cidr
    BOT_STORE_IP             = module.compute.bot_store_ip
  }
}

output "monitoring_console_url" {
  description = "Cloud Monitoring's alerting page of the project."
  value       = "https://console.cloud.google.com/monitoring/alerting?project=${var.project_id}"
}
