# pyinfra loads this file (from the directory it runs in) before the inventory.
# It makes every run validate the whole inventory before connecting to any host.
from gonka_deploy.pyinfra_hooks import install

install()
