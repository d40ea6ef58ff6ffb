"""The AWS edge of lambdashift: the only package that talks to AWS (or the local stack).

Modules here translate between lambdashift's values and AWS's APIs and formats;
``packaging`` turns a function's source directory into the deployment zip AWS expects.
"""
