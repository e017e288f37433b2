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
delete
detach
