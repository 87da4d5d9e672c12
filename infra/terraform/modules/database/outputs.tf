output "private_ip" {
  description = "The instance's private address (PostgreSQL on 5432)."
  value       = google_sql_database_instance.this.private_ip_address
}

output "connection_name" {
  description = "project:region:instance, for the Cloud SQL connectors."
  value       = google_sql_database_instance.this.connection_name
}

output "database" {
  description = "The database Arena uses."
  value       = google_sql_database.arena.name
}

output "user" {
  description = "The database user Arena connects as."
  value       = google_sql_user.arena.name
}

output "password_secret_id" {
  description = "Secret Manager secret holding the user's password."
  value       = google_secret_manager_secret.password.secret_id
}
