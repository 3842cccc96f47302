"""Benchmark cases: every module here defines ``cases(ctx: Context) -> list[Case]``."""
