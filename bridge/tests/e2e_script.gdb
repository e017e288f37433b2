set pagination off
set confirm off
set width 0
info registers rip eflags cs
x/8xb 0xffff0
break *0xfe05b
continue
info registers rip cs
stepi
stepi
info registers
set {unsigned int}0x1000 = 0x12345678
set {unsigned char}0x1004 = 0xab
x/2xw 0x1000
x/2560xw 0xf0000
dump binary memory e2e-bios.bin 0xf0000 0xf5000
restore e2e-bios.bin binary 0x20000
x/8xw 0x21ff0
x/8xw 0x23ffc
x/8xw 0x24fe0
x/8xw 0x25000
delete
detach
