"""The lane's one error: a sentence saying what is missing or what failed, printed as one line."""


class LaneError(Exception):
    pass
