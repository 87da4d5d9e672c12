variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "project_id" {
  description = "The Google Cloud project."
  type        = string
}

variable "alert_rules_file" {
  description = "Prometheus alerting rules to turn into Cloud Monitoring alert policies (infra/prometheus/alerts.yml)."
  type        = string
}

variable "alert_email" {
  description = "Where alerts are sent (an email notification channel)."
  type        = string
}

variable "domain" {
  description = "The API's public name; an uptime check calls https://<domain>/healthz."
  type        = string
}
