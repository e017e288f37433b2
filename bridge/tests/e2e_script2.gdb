set pagination off
set confirm off
set width 0
monitor info status
x/8xb 0xffff0
detach
