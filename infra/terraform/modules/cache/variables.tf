variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "project_id" {
  description = "The Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the Memorystore instance."
  type        = string
}

variable "network_id" {
  description = "The VPC the instance is reached from."
  type        = string
}

variable "reserved_ip_range" {
  description = "Name of the private services access range reserved for the cache (bot hosts may reach it)."
  type        = string
}

variable "private_services_connection" {
  description = "Id of the service networking connection (the instance is created after it)."
  type        = string
}

variable "memory_size_gb" {
  description = "Memorystore capacity: the running tournaments' journals, streams and leaderboards."
  type        = number
  default     = 4
}

variable "redis_version" {
  description = "Memorystore Redis version."
  type        = string
  default     = "REDIS_7_2"
}
