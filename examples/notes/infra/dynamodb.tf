# The notes table; lambdashift.yaml's `tables: notes:` holds the same CreateTable
# parameters for the local stack.

locals {
  list_index_name = "by-created"
}

resource "aws_dynamodb_table" "notes" {
  #checkov:skip=CKV_AWS_119:DynamoDB encrypts every table at rest with an AWS-owned key; a customer key adds KMS calls on each read and write
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "kind"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # GET /notes reads this index newest first. Every release of notes-create writes
  # kind = "note" and sk = creation time + "#" + id, so notes written before created_at
  # existed are listed too. One constant partition key caps index writes at one
  # partition's throughput (about 1,000 writes/s): plenty for notes, see README.md.
  global_secondary_index {
    name            = local.list_index_name
    hash_key        = "kind"
    range_key       = "sk"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }
}
