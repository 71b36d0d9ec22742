/* The host probe of bench/serving.py: how steadily this machine runs a fixed piece of work meanwhile.
 *
 * Every GAP microseconds it runs the same unit of arithmetic (registers and one stack slot: no memory
 * traffic, no system call) and reads how long the unit took twice: on the wall clock and on its thread's
 * CPU clock. Two things make a unit slow, and the two clocks tell them apart:
 *   - the guest's scheduler gives the core to another process: the wall clock runs on, the thread's CPU
 *     clock stops. That unit is *preempted*; it is the machine's other processes, as the serving
 *     benchmark's own `sub. wait` column shows them;
 *   - the core runs the unit slower while the thread holds it: both clocks grow. On a virtual machine
 *     that is the host (its other guests, its CPU limits): the guest sees no switch, and nothing in the
 *     guest can give that time back. That unit is *slowed*.
 * A unit counts as either when it took at least SLOW times the fastest unit of the run (the base). A
 * request served on a core that runs SLOW times slower takes SLOW times as long: when more than one
 * request in a hundred meets that, no server's p99 stays within SLOW times its p50.
 *
 * Usage: host_probe SECONDS [GAP_US [SLOWED_OUT]]   (GAP_US 2000 by default: ~1.5 % of a core)
 * Prints one line at the end:
 *   samples=N base_us=B slowed=S preempted=P worst=W
 * worst: the slowest unit's CPU time over the base. With SLOWED_OUT, each slowed unit's start and end are
 * written there as two native 64-bit integers, nanoseconds of CLOCK_MONOTONIC (bench/tail_client.c
 * stamps its requests on the same clock). Built by bench/serving.py with the system C compiler.
 * HOST_PROBE_HEAVY=K makes every K-th unit four times the work (for the benchmark's own tests).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { SLOW = 3, STEPS = 20000 };

static double clock_us(clockid_t clock) {
    struct timespec at;
    clock_gettime(clock, &at);
    return at.tv_sec * 1e6 + at.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: host_probe SECONDS [GAP_US]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    long gap = argc > 2 ? atol(argv[2]) : 2000;
    const char *heavy_env = getenv("HOST_PROBE_HEAVY");
    size_t heavy = heavy_env ? (size_t)atol(heavy_env) : 0;
    size_t room = 1024, count = 0;
    double *cpu = malloc(room * sizeof *cpu), *wall = malloc(room * sizeof *wall);
    double *start = malloc(room * sizeof *start);
    if (!cpu || !wall || !start)
        return 1;
    volatile uint64_t x = 1;
    double end = clock_us(CLOCK_MONOTONIC) + seconds * 1e6;
    while (clock_us(CLOCK_MONOTONIC) < end) {
        if (gap > 0) {
            struct timespec pause = {gap / 1000000, (gap % 1000000) * 1000};
            nanosleep(&pause, NULL);
        }
        long steps = heavy > 0 && count % heavy == heavy - 1 ? 4 * STEPS : STEPS;
        double wall_start = clock_us(CLOCK_MONOTONIC), cpu_start = clock_us(CLOCK_THREAD_CPUTIME_ID);
        for (long step = 0; step < steps; step++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double took_cpu = clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
        double took_wall = clock_us(CLOCK_MONOTONIC) - wall_start;
        if (count == room) {
            room *= 2;
            cpu = realloc(cpu, room * sizeof *cpu);
            wall = realloc(wall, room * sizeof *wall);
            start = realloc(start, room * sizeof *start);
            if (!cpu || !wall || !start)
                return 1;
        }
        start[count] = wall_start;
        cpu[count] = took_cpu;
        wall[count] = took_wall;
        count++;
    }
    double base = 0;
    for (size_t i = 0; i < count; i++)
        if (cpu[i] > 0 && (base == 0 || cpu[i] < base))
            base = cpu[i];
    FILE *out = argc > 3 ? fopen(argv[3], "wb") : NULL;
    if (argc > 3 && out == NULL) {
        perror("host_probe: SLOWED_OUT");
        return 2;
    }
    size_t slowed = 0, preempted = 0;
    double worst = 0;
    for (size_t i = 0; i < count && base > 0; i++) {
        if (cpu[i] >= SLOW * base) {
            slowed++;
            int64_t span[2] = {(int64_t)(start[i] * 1e3), (int64_t)((start[i] + wall[i]) * 1e3)};
            if (out)
                fwrite(span, sizeof span, 1, out);
        } else if (wall[i] >= SLOW * base)
            preempted++;
        if (cpu[i] / base > worst)
            worst = cpu[i] / base;
    }
    if (out)
        fclose(out);
    printf("samples=%zu base_us=%.2f slowed=%zu preempted=%zu worst=%.1f\n", count, base, slowed, preempted,
           worst);
    return 0;
}
