output "cluster_name" {
  description = "The GKE cluster (gcloud container clusters get-credentials)."
  value       = google_container_cluster.this.name
}

output "cluster_endpoint" {
  description = "The GKE control plane's endpoint."
  value       = google_container_cluster.this.endpoint
  sensitive   = true
}

output "registry" {
  description = "Where to push the service and runner images."
  value       = "${local.registry_host}/${var.project_id}/${google_artifact_registry_repository.arena.repository_id}"
}

output "api_address" {
  description = "The global static address of the HTTPS load balancer (point the domain's A record here)."
  value       = google_compute_global_address.api.address
}

output "api_address_name" {
  description = "Name of that address (infra/kubernetes/ingress.yaml refers to it)."
  value       = google_compute_global_address.api.name
}

output "app_service_account" {
  description = "Google service account of the API and engine pods (annotate the Kubernetes service account)."
  value       = google_service_account.arena.email
}

output "app_secret_ids" {
  description = "Secret Manager secrets of the webhook keys and the metrics token."
  value       = { for k, s in google_secret_manager_secret.app : k => s.secret_id }
}

output "bot_host_group" {
  description = "The bot hosts' regional managed instance group."
  value       = google_compute_region_instance_group_manager.bot_hosts.instance_group
}

output "bot_store" {
  description = "The bot store's NFS export (address:/share), mounted at /var/lib/arena/data everywhere."
  value       = "${google_filestore_instance.bot_store.networks[0].ip_addresses[0]}:/${google_filestore_instance.bot_store.file_shares[0].name}"
}

output "bot_store_ip" {
  description = "The bot store's NFS server address."
  value       = google_filestore_instance.bot_store.networks[0].ip_addresses[0]
}

output "bot_host_service_account" {
  description = "Google service account of the bot hosts (may read the Redis secret only)."
  value       = google_service_account.bot_hosts.email
}
