/* SPDX-License-Identifier: MIT */
/* The guest the libvirt scenarios start inside the test VM, as its firmware (a 64 KiB BIOS image:
 * no SeaBIOS, whose start under an emulator inside the emulated test VM takes a minute). From the
 * reset vector it writes "KVMPROV-L2 hypervisor=SIGNATURE" to the first serial port, SIGNATURE
 * being CPUID leaf 0x40000000's (KVMKVMKVM under KVM, TCGTCGTCGTCG under QEMU's emulator), and
 * powers the machine off through the ACPI registers of qemu's "pc" machine (PIIX4), which it
 * enables itself since no firmware did.
 *
 * Built with: as --32 -o l2-stub.o l2-stub.S && ld -m elf_i386 -Ttext=0 --oformat=binary
 *             -o l2-stub.bin l2-stub.o
 */
        .set COM1, 0x3f8
        .set PCI_ADDRESS, 0xcf8
        .set PCI_DATA, 0xcfc
        /* PIIX4 power management: bus 0, device 1, function 3; PMBA at 0x40, PMREGMISC at 0x80. */
        .set PIIX4_PMBA, 0x80000b40
        .set PIIX4_PMREGMISC, 0x80000b80
        .set PM_BASE, 0x600
        .set PM1A_CNT, PM_BASE + 4
        .set SLP_EN_S5, 0x2000 /* SLP_TYP 0, qemu's soft off, with SLP_EN */

        .code16
        .text
        .globl _start
_start:
        cli
        mov %cs, %ax
        mov %ax, %ds /* the strings below, read through the ROM at 0xf0000 */
        xor %ax, %ax
        mov %ax, %ss
        mov $0x7000, %sp /* RAM: the ROM ignores writes */

        mov $0x40000000, %eax
        cpuid
        push %edx
        push %ecx
        push %ebx

        mov $prefix, %si
        call puts
        /* The signature is 12 bytes on the stack, NUL-padded (KVMKVMKVM\0\0\0): print the
         * others. */
        mov %sp, %bp
        xor %si, %si
        mov $COM1, %dx
1:      mov (%bp,%si), %al
        test %al, %al
        jz 2f
        outb %al, %dx
2:      inc %si
        cmp $12, %si
        jb 1b
        mov $suffix, %si
        call puts

        mov $PIIX4_PMBA, %eax
        mov $PCI_ADDRESS, %dx
        outl %eax, %dx
        mov $(PM_BASE | 1), %eax
        mov $PCI_DATA, %dx
        outl %eax, %dx
        mov $PIIX4_PMREGMISC, %eax
        mov $PCI_ADDRESS, %dx
        outl %eax, %dx
        mov $1, %al /* PMIOSE: the PM I/O space at PMBA */
        mov $PCI_DATA, %dx
        outb %al, %dx
        mov $SLP_EN_S5, %ax
        mov $PM1A_CNT, %dx
        outw %ax, %dx
3:      hlt
        jmp 3b

/* Writes the NUL-terminated string at %ds:%si to COM1. */
puts:
        mov $COM1, %dx
1:      lodsb
        test %al, %al
        jz 2f
        outb %al, %dx
        jmp 1b
2:      ret

prefix: .asciz "KVMPROV-L2 hypervisor="
suffix: .asciz "\r\n"

        /* The reset vector, 16 bytes below 4 GiB and at the end of the ROM's 0xf0000 alias. */
        .org 0xfff0
        ljmp $0xf000, $_start
        .org 0x10000
