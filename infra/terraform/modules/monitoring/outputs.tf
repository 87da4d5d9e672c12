output "alert_policies" {
  description = "The alert policies made from the Prometheus rules, by alert name."
  value       = { for name, policy in google_monitoring_alert_policy.rule : name => policy.name }
}

output "uptime_check_id" {
  description = "The uptime check of https://<domain>/healthz."
  value       = google_monitoring_uptime_check_config.healthz.uptime_check_id
}
