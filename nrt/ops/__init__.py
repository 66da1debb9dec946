"""What commands do to a stack, the local one or a deployed one, alike.

- `stacks`: the one seam between the two: clients, names, URLs and the stack's outputs.
- `target`: where a model goes (bucket, role, region, prefix) and the serving image it runs in.
- `deploy`: make a trained model usable as the endpoint <prefix>NAME.
- `failures`: list the failure store, replay what is replayable.
- `accounting`: every accepted reading accounted for (the fault tests and benchmarks).
- `plan`: the capacity and cost plan on AWS at a rate (`nrt plan`), from the template's counts.
- `prices`: the list prices the plan uses, each with its source and the date it was checked.
"""

__all__ = ["accounting", "deploy", "failures", "plan", "prices", "stacks", "target"]
