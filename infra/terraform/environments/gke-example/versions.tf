terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6"
    }
  }

  # The state holds the generated database password: keep it in a private, versioned bucket.
  # backend "gcs" {
  #   bucket = "my-terraform-state"
  #   prefix = "arena/prod"
  # }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
