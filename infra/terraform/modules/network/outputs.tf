output "network_id" {
  description = "The VPC's id."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "The VPC's name."
  value       = google_compute_network.this.name
}

output "subnet_id" {
  description = "The subnet of the GKE nodes and the bot-host VMs."
  value       = google_compute_subnetwork.this.id
}

output "pods_range_name" {
  description = "Name of the subnet's secondary range for pods."
  value       = "pods"
}

output "services_range_name" {
  description = "Name of the subnet's secondary range for services."
  value       = "services"
}

output "database_range_name" {
  description = "The private services access range Cloud SQL must use."
  value       = google_compute_global_address.private["database"].name
}

output "cache_cidr" {
  description = "The private services access range Memorystore uses (CIDR)."
  value       = var.cache_psa_cidr
}

output "database_cidr" {
  description = "The private services access range Cloud SQL uses (CIDR)."
  value       = var.database_psa_cidr
}

output "private_services_connection" {
  description = "The service networking connection; Cloud SQL and Memorystore depend on it."
  value       = google_service_networking_connection.this.id
}

output "bot_host_tag" {
  description = "Network tag that fences the bot-host VMs in."
  value       = var.bot_host_tag
}

output "files_range_name" {
  description = "The private services access range Filestore must use."
  value       = google_compute_global_address.private["files"].name
}

output "cache_range_name" {
  description = "The private services access range Memorystore must use."
  value       = google_compute_global_address.private["cache"].name
}
