"""Tests of topics as code (platformctl/topics/), against Apache Kafka and etcd."""
