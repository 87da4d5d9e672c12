# Cloud SQL for PostgreSQL: private IP only, TLS required, daily backups with point-in-time recovery. The
# password is generated here and kept in Secret Manager; Arena's pods read it from there (never from a
# variable or a file in this repository).

resource "random_password" "arena" {
  length  = 40
  special = false
}

resource "google_sql_database_instance" "this" {
  project             = var.project_id
  name                = "${var.name}-postgres"
  region              = var.region
  database_version    = var.postgres_version
  deletion_protection = var.deletion_protection

  settings {
    tier              = var.tier
    availability_type = var.high_availability ? "REGIONAL" : "ZONAL"
    disk_type         = "PD_SSD"
    disk_size         = var.disk_size_gb
    disk_autoresize   = true

    ip_configuration {
      ipv4_enabled       = false
      private_network    = var.network_id
      allocated_ip_range = var.allocated_ip_range
      ssl_mode           = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "03:00"
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = var.backup_retention_days
      }
    }

    maintenance_window {
      day  = 7
      hour = 4
    }

    database_flags {
      name  = "max_connections"
      value = "200"
    }

    insights_config {
      query_insights_enabled = true
    }
  }

  depends_on = [var.private_services_connection]
}

resource "google_sql_database" "arena" {
  project  = var.project_id
  instance = google_sql_database_instance.this.name
  name     = "arena"
}

resource "google_sql_user" "arena" {
  project  = var.project_id
  instance = google_sql_database_instance.this.name
  name     = "arena"
  password = random_password.arena.result
}

resource "google_secret_manager_secret" "password" {
  project   = var.project_id
  secret_id = "${var.name}-postgres-password"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "password" {
  secret      = google_secret_manager_secret.password.id
  secret_data = random_password.arena.result
}
