// CPU time of a whole process (every thread), read from /proc: how the benchmarks tell what a server
// spent beside how fast it went, so that on a machine whose client shares the cores, the figures
// show where the ceiling is.
import { readFile } from 'node:fs/promises';

/** Linux reports a process's CPU time in clock ticks, USER_HZ = 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds of a process so far (fields 14 and 15 of /proc/<pid>/stat). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
