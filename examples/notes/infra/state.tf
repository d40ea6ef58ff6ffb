# The team state table: rollout records, history, signals and locks for every runner that
# deploys this service (lambdashift.yaml: `state: {store: dynamodb, table: ...}`).
# lambdashift's items are keyed by a string pk and sk (src/lambdashift/store/dynamodb.py); every
# read is strongly consistent and every lock a conditional write, so no index is needed.

resource "aws_dynamodb_table" "lambdashift_state" {
  #checkov:skip=CKV_AWS_119:DynamoDB encrypts every table at rest with an AWS-owned key; rollout state holds no secret worth a customer key's KMS calls
  count = var.state_table_name == null ? 0 : 1

  name                        = var.state_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # A finished rollout's record is its history: kept, and recoverable.
  point_in_time_recovery {
    enabled = true
  }
}

# What a runner needs of the table: attach it to the CI role that runs lambdashift.
data "aws_iam_policy_document" "lambdashift_state" {
  count = var.state_table_name == null ? 0 : 1

  statement {
    sid = "LambdashiftState"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
    ]
    resources = [aws_dynamodb_table.lambdashift_state[0].arn]
  }
}

resource "aws_iam_policy" "lambdashift_state" {
  count = var.state_table_name == null ? 0 : 1

  name        = "${var.state_table_name}-access"
  description = "Read and write lambdashift's team state table."
  policy      = data.aws_iam_policy_document.lambdashift_state[0].json
}
