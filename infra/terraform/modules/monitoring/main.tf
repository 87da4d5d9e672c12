# Monitoring: Google Managed Prometheus collects the API and engine pods (PodMonitoring, infra/kubernetes) and
# the bot hosts' Ops Agent collects the bot hosts; Cloud Monitoring evaluates the same alert rules as a self-run
# Prometheus (infra/prometheus/alerts.yml, read here, one alert policy per rule, in PromQL) and an uptime check
# calls /healthz through the load balancer.

locals {
  groups = yamldecode(file(var.alert_rules_file)).groups
  rules = merge([for group in local.groups : {
    for rule in group.rules : rule.alert => merge(rule, { group = group.name })
  }]...)
  # Prometheus durations ("1m", "15s", "0m") in seconds, as Cloud Monitoring wants them.
  seconds = { for name, rule in local.rules : name => (
    endswith(try(rule["for"], "0s"), "m") ? tonumber(trimsuffix(rule["for"], "m")) * 60 : tonumber(trimsuffix(try(rule["for"], "0s"), "s"))
  ) }
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "${var.name} operators"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

resource "google_monitoring_alert_policy" "rule" {
  for_each     = local.rules
  project      = var.project_id
  display_name = "${var.name}: ${each.key}"
  combiner     = "OR"
  severity     = upper(lookup({ critical = "critical", warning = "warning" }, try(each.value.labels.severity, "warning"), "warning"))

  conditions {
    display_name = each.key
    condition_prometheus_query_language {
      query               = each.value.expr
      duration            = "${local.seconds[each.key]}s"
      evaluation_interval = "30s"
      alert_rule          = each.key
      rule_group          = each.value.group
      labels              = try(each.value.labels, {})
    }
  }

  documentation {
    content   = try(each.value.annotations.description, each.value.annotations.summary, each.key)
    mime_type = "text/markdown"
  }

  notification_channels = [google_monitoring_notification_channel.email.id]
}

resource "google_monitoring_uptime_check_config" "healthz" {
  project      = var.project_id
  display_name = "${var.name} API /healthz"
  timeout      = "10s"
  period       = "60s"

  http_check {
    path         = "/healthz"
    port         = 443
    use_ssl      = true
    validate_ssl = true
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = var.domain
    }
  }
}

resource "google_monitoring_alert_policy" "uptime" {
  project      = var.project_id
  display_name = "${var.name}: API unreachable from the internet"
  combiner     = "OR"

  conditions {
    display_name = "uptime check failing"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.healthz.uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "120s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
    }
  }

  notification_channels = [google_monitoring_notification_channel.email.id]
}
