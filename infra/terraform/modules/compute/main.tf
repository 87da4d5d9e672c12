# Where Arena runs:
# - a private GKE cluster (Dataplane V2 enforces the NetworkPolicies in infra/kubernetes), whose API and engine
#   workers run in a GKE Sandbox node pool: every pod there runs under gVisor (RuntimeClass "gvisor");
# - bot hosts as a regional managed instance group of Debian VMs: runsc from Debian, cgroups checked at start,
#   the bot host in a privileged container, autoscaled on the share of bot slots in use;
# - Artifact Registry for the images, Secret Manager for the keys, a global address for the HTTPS load
#   balancer (GKE Ingress with a Google-managed certificate: infra/kubernetes/ingress.yaml).

locals {
  registry_host = "${var.region}-docker.pkg.dev"
  app_secrets   = ["webhooks-secret-keys", "metrics-token"]
}

# -- images and secrets -------------------------------------------------------------------------------------

resource "google_artifact_registry_repository" "arena" {
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name}-images"
  format        = "DOCKER"
  description   = "Arena's service and runner images (built offline with arena images build)."
}

resource "random_bytes" "webhooks_key" {
  length = 32
}

resource "random_password" "metrics_token" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "app" {
  for_each  = toset(local.app_secrets)
  project   = var.project_id
  secret_id = "${var.name}-${each.key}"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "app" {
  for_each = toset(local.app_secrets)
  secret   = google_secret_manager_secret.app[each.key].id
  # A Fernet key is 32 bytes in URL-safe base64. Rotation: add a version "new,old" (docs/deploy.md).
  secret_data = each.key == "webhooks-secret-keys" ? replace(replace(random_bytes.webhooks_key.base64, "+", "-"), "/", "_") : random_password.metrics_token.result
}

# -- the cluster: API and engine workers ------------------------------------------------------------------------

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.name}-gke-nodes"
  display_name = "Arena GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset(["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
  "roles/artifactregistry.reader"])
  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "this" {
  project                  = var.project_id
  name                     = "${var.name}-gke"
  location                 = var.region
  network                  = var.network_id
  subnetwork               = var.subnet_id
  networking_mode          = "VPC_NATIVE"
  datapath_provider        = "ADVANCED_DATAPATH" # Dataplane V2: NetworkPolicies enforced
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection

  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_cidr
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.admin_cidrs
      content {
        cidr_block = cidr_blocks.value
      }
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  release_channel {
    channel = "REGULAR"
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true # scrapes the PodMonitorings in infra/kubernetes/monitoring.yaml
    }
  }

  secret_manager_config {
    enabled = true # the Secret Manager CSI add-on: secrets mounted at /run/secrets, as in Compose
  }

  addons_config {
    http_load_balancing {
      disabled = false
    }
  }
}

# GKE Sandbox needs one pool without it for the system pods.
resource "google_container_node_pool" "system" {
  project    = var.project_id
  name       = "system"
  cluster    = google_container_cluster.this.id
  node_count = 1

  node_config {
    machine_type    = "e2-standard-2"
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}

resource "google_container_node_pool" "services" {
  project = var.project_id
  name    = "services-gvisor"
  cluster = google_container_cluster.this.id

  autoscaling {
    min_node_count = 1
    max_node_count = var.services_max_nodes
  }

  node_config {
    machine_type    = var.services_machine_type
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    sandbox_config {
      sandbox_type = "gvisor" # pods with runtimeClassName: gvisor run here, under gVisor
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}

# The API and engine pods' identity (Workload Identity: Kubernetes service account arena/arena).
resource "google_service_account" "arena" {
  project      = var.project_id
  account_id   = "${var.name}-app"
  display_name = "Arena API and engine workers"
}

resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.arena.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[arena/arena]"
}

resource "google_secret_manager_secret_iam_member" "arena" {
  for_each  = toset(concat([var.database_password_secret_id, var.redis_auth_secret_id], [for s in google_secret_manager_secret.app : s.secret_id]))
  project   = var.project_id
  secret_id = each.key
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.arena.email}"
}

# The bot store (ARENA_DATA_DIR): written by the API pods, read by the bot hosts (read-only mount). An upload's
# bundle is read by the path the API stored it at, so every plane mounts it at /var/lib/arena/data.
resource "google_filestore_instance" "bot_store" {
  project  = var.project_id
  name     = "${var.name}-bot-store"
  location = "${var.region}-b"
  tier     = "BASIC_SSD"

  file_shares {
    name        = "arena"
    capacity_gb = var.bot_store_gb
  }

  networks {
    network           = var.network_name
    modes             = ["MODE_IPV4"]
    connect_mode      = "PRIVATE_SERVICE_ACCESS"
    reserved_ip_range = var.files_range_name
  }
}

resource "google_compute_global_address" "api" {
  project = var.project_id
  name    = "${var.name}-api"
}

# -- bot hosts --------------------------------------------------------------------------------------------------

resource "google_service_account" "bot_hosts" {
  project      = var.project_id
  account_id   = "${var.name}-bot-hosts"
  display_name = "Arena bot hosts (the Redis secret, the images, logs and metrics: nothing else)"
}

resource "google_project_iam_member" "bot_hosts" {
  for_each = toset(["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/artifactregistry.reader"])
  project  = var.project_id
  role     = each.key
  member   = "serviceAccount:${google_service_account.bot_hosts.email}"
}

resource "google_secret_manager_secret_iam_member" "bot_hosts" {
  project   = var.project_id
  secret_id = var.redis_auth_secret_id # the database password is not theirs to read
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.bot_hosts.email}"
}

# Bot hosts as pods instead (infra/kubernetes/bot-host.yaml): the same identity for their service account.
resource "google_service_account_iam_member" "bot_host_workload_identity" {
  service_account_id = google_service_account.bot_hosts.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[arena-bots/arena-bot-host]"
}

resource "google_compute_instance_template" "bot_host" {
  project      = var.project_id
  name_prefix  = "${var.name}-bot-host-"
  machine_type = var.bot_host_machine_type
  tags         = [var.bot_host_tag]

  disk {
    source_image = "debian-cloud/debian-12"
    disk_size_gb = 50
    disk_type    = "pd-balanced"
    boot         = true
    auto_delete  = true
  }

  network_interface {
    subnetwork = var.subnet_id # no access_config: no public IP
  }

  service_account {
    email  = google_service_account.bot_hosts.email
    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    block-project-ssh-keys = "true"
    enable-oslogin         = "TRUE"
    startup-script = templatefile("${path.module}/bot-host-startup.sh.tftpl", {
      project_id        = var.project_id
      registry_host     = local.registry_host
      service_image     = var.service_image
      runner_image      = var.runner_image
      redis_host        = var.redis_host
      redis_auth_secret = var.redis_auth_secret_id
      bot_slots         = var.bot_slots
      files_share       = "${google_filestore_instance.bot_store.networks[0].ip_addresses[0]}:/${google_filestore_instance.bot_store.file_shares[0].name}"
    })
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_instance_group_manager" "bot_hosts" {
  project            = var.project_id
  name               = "${var.name}-bot-hosts"
  region             = var.region
  base_instance_name = "${var.name}-bot-host"

  version {
    instance_template = google_compute_instance_template.bot_host.id
  }

  # A replaced bot host ends its bots as host_fault: replace hosts between tournaments, not during one.
  update_policy {
    type                  = "OPPORTUNISTIC"
    minimal_action        = "REPLACE"
    max_surge_fixed       = 3
    max_unavailable_fixed = 0
  }
}

# Scaled on the bot slots in use over the whole group (arena_bot_host_slots{state="used"}, from each host's
# Ops Agent): one host per bot_slots × bot_slot_target slots in use.
resource "google_compute_region_autoscaler" "bot_hosts" {
  project = var.project_id
  name    = "${var.name}-bot-hosts"
  region  = var.region
  target  = google_compute_region_instance_group_manager.bot_hosts.id

  autoscaling_policy {
    min_replicas    = var.bot_hosts_min
    max_replicas    = var.bot_hosts_max
    cooldown_period = 180

    metric {
      name                       = "prometheus.googleapis.com/arena_bot_host_slots/gauge"
      filter                     = "resource.type = \"prometheus_target\" AND metric.labels.state = \"used\""
      single_instance_assignment = floor(var.bot_slots * var.bot_slot_target)
    }

    # Scaling in ends the removed host's bots: at most one host per 10 minutes.
    scale_in_control {
      time_window_sec = 600
      max_scaled_in_replicas {
        fixed = 1
      }
    }
  }
}
