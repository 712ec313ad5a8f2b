"""An edge site: a stack whose Pulsar replicates its outputs to a core site's Pulsar."""
