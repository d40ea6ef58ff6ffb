"""The local stack: the emulator, the HTTP API gateway and DynamoDB, for one lambdashift.yaml."""
