variable "name" {
  description = "Prefix of every resource's name (e.g. \"arena-prod\")."
  type        = string
}

variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "The region of the subnet, the router and the NAT (e.g. \"europe-west1\")."
  type        = string
}

variable "subnet_cidr" {
  description = "Primary range of the subnet: GKE nodes and the bot-host VMs."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for GKE pods."
  type        = string
  default     = "10.20.0.0/16"
}

variable "services_cidr" {
  description = "Secondary range for GKE services."
  type        = string
  default     = "10.30.0.0/20"
}

variable "database_psa_cidr" {
  description = "Private services access range reserved for Cloud SQL only (bot hosts are denied egress to it)."
  type        = string
  default     = "10.60.0.0/20"
}

variable "cache_psa_cidr" {
  description = "Private services access range reserved for Memorystore only (the one private service bot hosts reach)."
  type        = string
  default     = "10.61.0.0/24"
}

variable "master_cidr" {
  description = "The /28 of the GKE control plane's private endpoint."
  type        = string
  default     = "172.16.0.0/28"
}

variable "bot_host_tag" {
  description = "Network tag of the bot-host VMs; the firewall rules that fence them in apply to it."
  type        = string
  default     = "arena-bot-host"
}

variable "files_psa_cidr" {
  description = "Private services access range reserved for Filestore (the bot store; bot hosts mount it read-only)."
  type        = string
  default     = "10.62.0.0/24"
}
