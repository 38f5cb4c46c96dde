/* expect_death support: runs a function in a forked child under the default
 * error handler and collects the signal that ended it and its stderr. */
#define _POSIX_C_SOURCE 200809L

#include "mm_test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

void mmt_run_child(mmt_child_fn fn, void *arg, mmt_death *out)
{
    int fds[2];
    memset(out, 0, sizeof *out);
    out->exit_status = -1;
    cr_assert_eq(pipe(fds), 0, "pipe() should succeed for expect_death: %s", strerror(errno));
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork() should succeed for expect_death: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], STDERR_FILENO) < 0) _exit(126);
        close(fds[1]);
        alarm(20);
        mm_set_error_handler(NULL, NULL);
        fn(arg);
        _exit(0); /* skip atexit handlers and Criterion's own teardown */
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t room = sizeof out->text - 1 - used;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(out->text + used, chunk, take);
        used += take;
    }
    out->text[used] = '\0';
    close(fds[0]);
    int status = 0;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    cr_assert_eq(w, pid, "waitpid() should return the child: %s", strerror(errno));
    if (WIFSIGNALED(status)) {
        out->signal = WTERMSIG(status);
    } else if (WIFEXITED(status)) {
        out->exit_status = WEXITSTATUS(status);
    }
}

int mmt_death_message(const mmt_death *d, char *line, size_t linelen)
{
    static const char prefix[] = "mimicmem: ";
    const char *p = d->text;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n >= sizeof prefix - 1 && memcmp(p, prefix, sizeof prefix - 1) == 0) {
            if (linelen > 0) {
                size_t take = n < linelen - 1 ? n : linelen - 1;
                memcpy(line, p, take);
                line[take] = '\0';
            }
            return 1;
        }
        if (eol == NULL) break;
        p = eol + 1;
    }
    return 0;
}
