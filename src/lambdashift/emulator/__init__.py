"""The local Lambda cloud: an AWS-shaped Lambda API, its store, and warm Python worker pools."""
