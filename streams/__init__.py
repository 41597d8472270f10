"""Everything around the agents: `app` builds a worker from `settings`; `topology` (topics, the replicated
table), `engine` (model, index thread, Redis), `web` (HTTP views, metrics, console and help pages), `cli`,
`clients` (Kafka and HTTP clients), `local` (processes on this machine), `demo` and `bench`."""
