"""The key and value schemas topic files declare: spec (Avro, checked before anything is sent), the
environment's levels in etcd, the plan against the Schema Registry, its text, and the run."""
