from collections.abc import Callable

class RDBError(ValueError): ...

def scan(
    fd: int, sink: Callable[[bytes], object] | None, memory_limit: int = ..., /
) -> dict[str, object]: ...
