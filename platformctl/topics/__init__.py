"""Topics as code: what a topic file may say, the layers over it (etcd overrides, --set), the plan against
Kafka and its apply, the environment lock and the applied records; schemas/ does the same for the Schema
Registry subjects the files declare."""
