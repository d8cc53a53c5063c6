"""One adapter per external system, each the only importer of its client (kubernetes, confluent_kafka,
etcd3gw, docker) or the only caller of its CLI (minikube); each turns its client's errors into platformctl's.
Imported lazily: `platformctl --help` never pays for a client."""
