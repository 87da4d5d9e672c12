# A private network: no public IP on any VM or node, egress through Cloud NAT, Cloud SQL and Memorystore on
# private services access in two separate ranges, so the firewall can keep bot hosts (which run the
# contestants' code) away from the database while letting them reach Redis.

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "this" {
  project                  = var.project_id
  name                     = "${var.name}-subnet"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true # images from Artifact Registry, Secret Manager, without a public IP

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 0.5
  }
}

locals {
  # One private services access range per service, so the firewall can tell them apart.
  private_ranges = {
    database = var.database_psa_cidr
    cache    = var.cache_psa_cidr
    files    = var.files_psa_cidr
  }
  # What bot hosts may reach in those ranges: Redis and the bot store (NFS), not the database.
  bot_host_egress = {
    cache = ["6378", "6379"]
    files = ["111", "2049", "20048"] # NFS: portmapper, nfs, mountd
  }
}

resource "google_compute_global_address" "private" {
  for_each      = local.private_ranges
  project       = var.project_id
  name          = "${var.name}-psa-${each.key}"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  network       = google_compute_network.this.id
  address       = split("/", each.value)[0]
  prefix_length = tonumber(split("/", each.value)[1])
}

resource "google_service_networking_connection" "this" {
  network                 = google_compute_network.this.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [for range in google_compute_global_address.private : range.name]
}

resource "google_compute_router" "this" {
  project = var.project_id
  name    = "${var.name}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  project                            = var.project_id
  name                               = "${var.name}-nat"
  router                             = google_compute_router.this.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Bot hosts: no route to the database, the cluster's pods or its control plane. Deny rules win over the
# default allow-egress at a lower priority number.
resource "google_compute_firewall" "bot_hosts_deny_private" {
  project            = var.project_id
  name               = "${var.name}-bot-hosts-deny-private"
  network            = google_compute_network.this.id
  direction          = "EGRESS"
  priority           = 100
  target_tags        = [var.bot_host_tag]
  destination_ranges = [var.database_psa_cidr, var.pods_cidr, var.services_cidr, var.master_cidr, var.subnet_cidr]

  deny {
    protocol = "all"
  }
}

resource "google_compute_firewall" "bot_hosts_allow" {
  for_each           = local.bot_host_egress
  project            = var.project_id
  name               = "${var.name}-bot-hosts-allow-${each.key}"
  network            = google_compute_network.this.id
  direction          = "EGRESS"
  priority           = 90
  target_tags        = [var.bot_host_tag]
  destination_ranges = [local.private_ranges[each.key]]

  allow {
    protocol = "tcp"
    ports    = each.value
  }
}

# Nothing reaches a bot host but SSH through Identity-Aware Proxy (for operators). Its metrics are scraped on
# the VM itself by the Ops Agent, its health is its heartbeat in Redis (an engine ends a lost host's bots).
resource "google_compute_firewall" "bot_hosts_ingress" {
  project       = var.project_id
  name          = "${var.name}-bot-hosts-ingress"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  priority      = 1000
  target_tags   = [var.bot_host_tag]
  source_ranges = ["35.235.240.0/20"] # Identity-Aware Proxy's TCP forwarding

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
