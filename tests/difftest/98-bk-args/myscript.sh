#!/bin/sh
echo -n $my_arg $* > /myout
