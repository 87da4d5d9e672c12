output "host" {
  description = "The primary endpoint's address."
  value       = google_redis_instance.this.host
}

output "port" {
  description = "The primary endpoint's port."
  value       = google_redis_instance.this.port
}

output "auth_secret_id" {
  description = "Secret Manager secret holding the AUTH string."
  value       = google_secret_manager_secret.auth.secret_id
}
