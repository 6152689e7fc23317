# Hydrant from Terraform: the packaged template (infra/README.md, "Terraform") deployed as one
# CloudFormation stack. Terraform owns the stack; CloudFormation owns what is in it, so the
# resources stay exactly those the template checks describe.
#
#   terraform init
#   terraform apply -var staging_bucket_name=my-firehose-bucket -var template_file=../../packaged.yaml

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "stack_name" {
  description = "Name of the CloudFormation stack (and prefix of the API's name)."
  type        = string
  default     = "hydrant"
}

variable "template_file" {
  description = "The template `sam package` wrote: its CodeUri point at the uploaded zips."
  type        = string
  default     = "packaged.yaml"
}

variable "template_url" {
  description = "Instead of template_file: an S3 URL of the packaged template (needed past 51,200 bytes, CloudFormation's limit for an inline body)."
  type        = string
  default     = null
}

variable "staging_bucket_name" {
  description = "The bucket your Firehose stream already writes to (a template generated with --existing-staging). Null for a template that creates its own stream."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify. Null: alarms without actions."
  type        = string
  default     = null
}

variable "stack_events_topic_arns" {
  description = "SNS topics CloudFormation sends the stack's events to (deploys, rollbacks)."
  type        = list(string)
  default     = []
}

variable "parameters" {
  description = "Any other template parameter, by its CloudFormation name (IndexerMemorySize, StagingPrefix, ...)."
  type        = map(string)
  default     = {}
}

resource "aws_cloudformation_stack" "hydrant" {
  #checkov:skip=CKV_AWS_124:stack events go to the topics the user names in stack_events_topic_arns; an example cannot assume one exists
  name          = var.stack_name
  template_body = var.template_url == null ? file(var.template_file) : null
  template_url  = var.template_url
  # The SAM transform expands the functions and the API (AUTO_EXPAND) and creates their
  # roles (IAM).
  capabilities = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
  parameters = merge(
    var.staging_bucket_name == null ? {} : { StagingBucketName = var.staging_bucket_name },
    var.alarm_topic_arn == null ? {} : { AlarmTopicArn = var.alarm_topic_arn },
    var.parameters,
  )
  notification_arns = var.stack_events_topic_arns
  # A failed first deployment is rolled back and deleted, so that apply can simply be re-run.
  on_failure = "DELETE"
  timeouts {
    create = "30m"
    update = "30m"
    delete = "30m"
  }
}

output "search_url" {
  description = "Base URL of the REST API: {search_url}/api/v1/{index}/search."
  value       = aws_cloudformation_stack.hydrant.outputs["SearchUrl"]
}

output "searcher_function_arn" {
  description = "For direct invocation and for IAM policies of callers."
  value       = aws_cloudformation_stack.hydrant.outputs["SearcherFunctionArn"]
}

output "index_uri" {
  description = "Where the indexes live (hydrant index create --index-uri ...)."
  value       = aws_cloudformation_stack.hydrant.outputs["IndexUri"]
}

output "queue_url" {
  description = "The indexing queue (hydrant backfill --queue-url ...)."
  value       = aws_cloudformation_stack.hydrant.outputs["QueueUrl"]
}

output "outputs" {
  description = "Every output of the stack (ApiKeyId in API-key mode, DeliveryStreamName when the stack creates its stream, ...)."
  value       = aws_cloudformation_stack.hydrant.outputs
}
