# engine / engine-stop: a real Docker engine (dockerd, Compose v2, registry on
# 127.0.0.1:5000, test images) for the e2e tests; see scripts/engine.sh.
.PHONY: engine engine-stop

engine:
	scripts/engine.sh ensure

engine-stop:
	scripts/engine.sh stop
