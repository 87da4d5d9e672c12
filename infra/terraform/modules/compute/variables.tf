variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "project_id" {
  description = "The Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the GKE cluster and the bot-host instance group."
  type        = string
}

variable "network_id" {
  description = "The VPC the cluster and the bot hosts are in."
  type        = string
}

variable "subnet_id" {
  description = "The subnet of the nodes and bot hosts."
  type        = string
}

variable "pods_range_name" {
  description = "Secondary range of the subnet for pods."
  type        = string
}

variable "services_range_name" {
  description = "Secondary range of the subnet for services."
  type        = string
}

variable "master_cidr" {
  description = "The /28 of the GKE control plane's private endpoint."
  type        = string
}

variable "admin_cidrs" {
  description = "Networks allowed to reach the GKE control plane (kubectl), e.g. your office's egress range."
  type        = list(string)
}

variable "bot_host_tag" {
  description = "Network tag of the bot-host VMs (the network module's firewall rules apply to it)."
  type        = string
}

variable "services_machine_type" {
  description = "Machine type of the GKE Sandbox (gVisor) node pool that runs the API and engine workers."
  type        = string
  default     = "e2-standard-4"
}

variable "services_max_nodes" {
  description = "Most nodes per zone in the services pool (it autoscales from 1)."
  type        = number
  default     = 3
}

variable "bot_host_machine_type" {
  description = "Machine type of a bot host. docs/deploy.md sizes slots per core and per GiB."
  type        = string
  default     = "n2-standard-8"
}

variable "bot_slots" {
  description = "Sandboxed bots one bot host runs at once (arena worker --slots)."
  type        = number
  default     = 16
}

variable "bot_hosts_min" {
  description = "Fewest bot hosts kept running."
  type        = number
  default     = 1
}

variable "bot_hosts_max" {
  description = "Most bot hosts the autoscaler may start."
  type        = number
  default     = 10
}

variable "bot_slot_target" {
  description = "Target share of bot slots in use over the group (the autoscaler adds hosts above it)."
  type        = number
  default     = 0.7
}

variable "service_image" {
  description = "The service image in Artifact Registry (arena images build --service, then docker push), by digest or tag."
  type        = string
}

variable "runner_image" {
  description = "The runner image in Artifact Registry; bot hosts export it to their rootfs directory at start."
  type        = string
}

variable "redis_host" {
  description = "Memorystore's address (bot hosts connect to it, and to nothing else private)."
  type        = string
}

variable "redis_auth_secret_id" {
  description = "Secret Manager secret with Memorystore's AUTH string."
  type        = string
}

variable "database_password_secret_id" {
  description = "Secret Manager secret with the database password (read by the API and engine pods only)."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the cluster."
  type        = bool
  default     = true
}

variable "network_name" {
  description = "The VPC's name (Filestore refers to it by name)."
  type        = string
}

variable "files_range_name" {
  description = "Name of the private services access range reserved for Filestore (the bot store)."
  type        = string
}

variable "bot_store_gb" {
  description = "Capacity of the bot store's Filestore share (BASIC_SSD starts at 2560 GB)."
  type        = number
  default     = 2560
}
