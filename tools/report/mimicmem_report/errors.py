"""The one error type of the tool: a problem with an input or output file."""


class ReportError(Exception):
    """Bad input (or unwritable output), printed as ``<file>[:<line>]: <what>``.

    path: the file concerned (or a subcommand name when there is no file);
    line: 1-based line number in that file, or None;
    what: the message, in lower case, without a trailing period.
    """

    def __init__(self, path, what, line=None):
        super().__init__(what)
        self.path = str(path)
        self.line = line
        self.what = what

    def __str__(self):
        where = self.path if self.line is None else "%s:%d" % (self.path, self.line)
        return "%s: %s" % (where, self.what)
