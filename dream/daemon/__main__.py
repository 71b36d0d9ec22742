# Before anything imports httpcore (see dream.unused_imports).
import dream.unused_imports

dream.unused_imports.skip()

# The zygote starts first: it loads the node runtime while this process imports the daemon's own modules.
from dream.daemon import zygote  # noqa: E402

zygote.warm()

from dream.daemon.main import main  # noqa: E402

main()
