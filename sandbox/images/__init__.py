"""Stand-in images: the Gonka images (and nginx, Prometheus, node-exporter) as OCI images that
run our simulators and Debian's real nginx and Prometheus, served to the sandbox hosts' real
dockerd by a local registry under the images' own names. See README.md."""
