variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "project_id" {
  description = "The Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the Cloud SQL instance."
  type        = string
}

variable "network_id" {
  description = "The VPC the instance gets its private IP in (no public IP)."
  type        = string
}

variable "allocated_ip_range" {
  description = "Name of the private services access range reserved for the database."
  type        = string
}

variable "private_services_connection" {
  description = "Id of the service networking connection (the instance is created after it)."
  type        = string
}

variable "tier" {
  description = "Cloud SQL machine tier (e.g. \"db-custom-2-7680\": 2 vCPU, 7.5 GiB)."
  type        = string
  default     = "db-custom-2-7680"
}

variable "postgres_version" {
  description = "Cloud SQL database version."
  type        = string
  default     = "POSTGRES_16"
}

variable "disk_size_gb" {
  description = "Initial SSD size; it grows automatically."
  type        = number
  default     = 50
}

variable "high_availability" {
  description = "A standby in another zone (REGIONAL availability) rather than one zone."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Daily backups kept; point-in-time recovery covers the last 7 days of them."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the instance (turn off only for throwaway environments)."
  type        = bool
  default     = true
}
