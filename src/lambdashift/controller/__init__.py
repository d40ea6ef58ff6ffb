"""The controller: lambdashift running as a Lambda function that drives rollouts to their end.

A reconcile loop, as Flagger and Argo Rollouts run theirs, on AWS's own services: an
EventBridge Scheduler schedule (``rate(1 minute)``) and ``deploy --detach``'s asynchronous
Invoke call the function; each invocation takes the leases of the unfinished rollouts that
nobody holds (detached ones, and orphans whose CLI was killed), drives them until they end or
the invocation's time runs short, and lets the leases go. Modules::

    settings.py     what the function reads from its environment (the contract with install,
                    the Terraform module and the local stack)
    permissions.py  the AWS actions the controller calls: its least-privilege role
    handler.py      the Lambda entry point
    tick.py         one invocation's work: adopt, drive, hand over
    package.py      its deployment zip (lambdashift and what the controller imports)
    install.py      ``lambdashift controller install`` with boto3 (spec.py: its names and
                    flags; iam.py: the roles' documents; status.py, uninstall.py)
"""
