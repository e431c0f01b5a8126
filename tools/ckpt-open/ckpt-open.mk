# Builds ckpt-open inside the OpenSSH tree, after OpenSSH's own Makefile:
#   make -f Makefile -f ckpt-open.mk ckpt-open
# ssh-patch/build copies ckpt-open.c into the tree first. ckpt-open decodes
# checkpoint content with revenant-state.c, which is written on sshbuf, so
# it links the tree's libssh.a like ssh-keygen does.

CKPT_OPEN_OBJS=	ckpt-open.o revenant-state.o revenant-ckpt-wire.o \
		revenant-hpke.o revenant-keyfile.o

ckpt-open$(EXEEXT): libssh.a $(LIBCOMPAT) $(CKPT_OPEN_OBJS)
	$(LD) -o $@ $(CKPT_OPEN_OBJS) $(LDFLAGS) -lssh -lopenbsd-compat \
	    $(LIBS) $(CHANNELLIBS)
