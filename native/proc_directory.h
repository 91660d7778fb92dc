// Counting entries of a procfs directory the slow way, for old kernels.
#ifndef PROCMETER_PROC_DIRECTORY_H_
#define PROCMETER_PROC_DIRECTORY_H_

namespace procmeter {

// Counts the entries of the open directory `dir_fd` other than "." and "..",
// with getdents64 into a stack buffer: no allocation, no new fd, so it works
// at EMFILE. Linear in the number of entries. Returns NaN on failure.
double CountDirectoryEntries(int dir_fd);

}  // namespace procmeter

#endif  // PROCMETER_PROC_DIRECTORY_H_
