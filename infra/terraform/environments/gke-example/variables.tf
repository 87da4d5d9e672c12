variable "project_id" {
  description = "The Google Cloud project to deploy into (its APIs: compute, container, sqladmin, redis, file, servicenetworking, secretmanager, artifactregistry, monitoring)."
  type        = string
}

variable "region" {
  description = "The region of everything (e.g. \"europe-west1\")."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource's name, e.g. \"arena-prod\"."
  type        = string
  default     = "arena"
}

variable "domain" {
  description = "The API's public DNS name; point its A record at the output api_address (TLS is issued for it)."
  type        = string
}

variable "admin_cidrs" {
  description = "Networks allowed to reach the GKE control plane with kubectl."
  type        = list(string)
}

variable "alert_email" {
  description = "Where Arena's alerts are sent."
  type        = string
}

variable "service_image" {
  description = "The service image as pushed to the registry output (e.g. \"<registry>/arena-service:0.9.0\")."
  type        = string
}

variable "runner_image" {
  description = "The runner image as pushed to the registry output (e.g. \"<registry>/arena-runner:0.9.0\")."
  type        = string
}

variable "bot_host_machine_type" {
  description = "Machine type of the bot hosts (docs/deploy.md: slots per core and per GiB)."
  type        = string
  default     = "n2-standard-8"
}

variable "bot_slots" {
  description = "Bots one bot host runs at once: with the default limits (0.5 vCPU, 256 MiB) 2 per core."
  type        = number
  default     = 16
}

variable "bot_hosts_max" {
  description = "Most bot hosts the autoscaler may start."
  type        = number
  default     = 10
}

variable "database_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "db-custom-2-7680"
}

variable "redis_memory_gb" {
  description = "Memorystore capacity in GiB."
  type        = number
  default     = 4
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the database and the cluster (false only for a throwaway environment)."
  type        = bool
  default     = true
}
