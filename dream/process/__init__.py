"""OS processes, with nothing of what runs in them: forking children from a warmed fork server
(`forkserver`), what a child does to settle in (`child`: its name in ps, its output to a log file), and
telling a process apart from a later one with the same pid (`identity`). This package imports nothing of
dream: the daemon and the nodes import it.
"""
