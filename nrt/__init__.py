"""nrt-inference: the CLI, the local runtime and the helpers shared with the AWS side."""
