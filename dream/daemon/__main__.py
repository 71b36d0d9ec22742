# The zygote starts first: it loads the node runtime while this process imports the daemon's own modules.
from dream.daemon import zygote

zygote.warm()

from dream.daemon.main import main  # noqa: E402

main()
